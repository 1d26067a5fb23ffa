"""PyTorch baseline for bench/finetune.ts, written as a PyTorch user writes it.

VGG16 (random weights, as tlkit's side: no ImageNet weights offline) at 180x180, the
frozen prefix (block1..block4) under no_grad in eval mode, block5 + the book's head
(Flatten, Linear(256), Dropout(0.5), Linear(1)) trained with RMSprop (Keras defaults:
alpha 0.9, eps 1e-7, lr 1e-5), BCEWithLogitsLoss, batch 32, a validation pass every
epoch, the best state_dict saved when val_loss improves.

  images DATA EPOCHS WORKERS   ImageFolder-style: JPEGs decoded (PIL, bilinear resize) every
                               epoch by a DataLoader, prefix run every epoch.
  features DIR EPOCHS          block5 + head on prefix outputs held in memory (train_x.npy,
                               train_y.npy, val_x.npy, val_y.npy): the cached-prefix epoch.
Prints one JSON line: seconds per epoch, total seconds, threads, versions.
"""
import glob, json, os, sys, tempfile, time
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

torch.manual_seed(1337)
torch.set_num_threads(os.cpu_count())  # every core, as tlkit's ONNX Runtime sessions use


def vgg_block(cin, cout, convs):
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU(inplace=True)]
    return layers + [nn.MaxPool2d(2)]


prefix = nn.Sequential(*vgg_block(3, 64, 2), *vgg_block(64, 128, 2), *vgg_block(128, 256, 3), *vgg_block(256, 512, 3)).eval()
for p in prefix.parameters():
    p.requires_grad = False
model = nn.Sequential(*vgg_block(512, 512, 3), nn.Flatten(), nn.Linear(512 * 5 * 5, 256), nn.Dropout(0.5), nn.Linear(256, 1))
optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-5, alpha=0.9, eps=1e-7)
loss_fn = nn.BCEWithLogitsLoss()
CAFFE_MEAN = torch.tensor([103.939, 116.779, 123.68]).view(3, 1, 1)


class JpegFolder(Dataset):
    """train/<class>/*.jpg, as torchvision's ImageFolder (not in Debian's packages) reads it."""

    def __init__(self, root):
        classes = sorted(os.listdir(root))
        self.items = [(f, i) for i, c in enumerate(classes) for f in sorted(glob.glob(os.path.join(root, c, '*')))]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image
        path, label = self.items[i]
        with Image.open(path) as img:
            rgb = np.asarray(img.convert('RGB').resize((180, 180), Image.BILINEAR), dtype=np.float32)
        x = torch.from_numpy(rgb).permute(2, 0, 1).flip(0) - CAFFE_MEAN  # Keras's caffe preprocessing: BGR, mean
        return x, torch.tensor([float(label)])


def run(train, val, epochs, features):
    best = float('inf')
    checkpoint = os.path.join(tempfile.mkdtemp(), 'best.pt')
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        for x, y in train:
            if not features:
                with torch.no_grad():
                    x = prefix(x)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for x, y in val:
                if not features:
                    x = prefix(x)
                total += loss_fn(model(x), y).item() * len(y)
                n += len(y)
        if total / n < best:
            best = total / n
            torch.save(model.state_dict(), checkpoint)
        times.append(time.perf_counter() - t0)
    return times


mode = sys.argv[1]
if mode == 'images':
    data, epochs, workers = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    t0 = time.perf_counter()
    train = DataLoader(JpegFolder(os.path.join(data, 'train')), batch_size=32, shuffle=True, num_workers=workers)
    val = DataLoader(JpegFolder(os.path.join(data, 'validation')), batch_size=32, num_workers=workers)
    times = run(train, val, epochs, features=False)
    total = time.perf_counter() - t0
else:
    folder, epochs = sys.argv[2], int(sys.argv[3])
    load = lambda name: torch.from_numpy(np.load(os.path.join(folder, name)))
    # tlkit's features are channels-last; PyTorch's convolutions want channels-first.
    train = DataLoader(TensorDataset(load('train_x.npy').permute(0, 3, 1, 2).contiguous(), load('train_y.npy').float().unsqueeze(1)), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(load('val_x.npy').permute(0, 3, 1, 2).contiguous(), load('val_y.npy').float().unsqueeze(1)), batch_size=32)
    t0 = time.perf_counter()
    times = run(train, val, epochs, features=True)
    total = time.perf_counter() - t0
print(json.dumps({'epochSeconds': times, 'seconds': total, 'threads': torch.get_num_threads(), 'torch': torch.__version__}))
