"""PyTorch side of bench/coldStart.ts: each command is one fresh process, as a PyTorch user runs it.

VGG16's convolutional base (torchvision's layer layout, random weights: no ImageNet weights
offline) at 180x180, Keras's caffe preprocessing (BGR, mean subtracted), every core
(torch.set_num_threads), images decoded and resized with PIL in a DataLoader (workers = the
cores), batch 8 for extraction.

  extract DIR OUT.npy            features of every DIR/<class>/* image, saved with numpy
  train DATA RUN EPOCHS          extract train/ and validation/, then the book's head (Flatten,
                                 Linear(256), ReLU, Dropout(0.5), Linear(1)), RMSprop (Keras defaults:
                                 lr 1e-3, alpha 0.9, eps 1e-7), BCEWithLogitsLoss, batch 32, validation
                                 every epoch, the whole model (base + head) saved when val_loss improves
  evaluate DATA RUN              load RUN's saved model, accuracy and loss on DATA/test/
Prints one JSON line (seconds measured inside the script; the caller times the process).
"""
import time

START = time.perf_counter()
import glob, json, os, sys
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

torch.manual_seed(1337)
torch.set_num_threads(os.cpu_count())
CAFFE_MEAN = torch.tensor([103.939, 116.779, 123.68]).view(3, 1, 1)
SIZE = 180


def vgg16_base():
    layers, cin = [], 3
    for cout, convs in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
        for _ in range(convs):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers).eval()


def book_head():
    return nn.Sequential(nn.Flatten(), nn.Linear(512 * 5 * 5, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 1))


class JpegFolder(Dataset):
    """<class>/* images, sorted, as torchvision's ImageFolder lists them, resized to SIZE x SIZE (bilinear)."""

    def __init__(self, root):
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        self.items = [(f, i) for i, c in enumerate(classes) for f in sorted(glob.glob(os.path.join(root, c, '*')))]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image
        path, label = self.items[i]
        with Image.open(path) as img:
            img = img.convert('RGB').resize((SIZE, SIZE), Image.BILINEAR)
        rgb = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1)
        return rgb.flip(0) - CAFFE_MEAN, float(label)


def features(base, root):
    workers = os.cpu_count()
    loader = DataLoader(JpegFolder(root), batch_size=8, num_workers=workers)
    xs, ys = [], []
    with torch.no_grad():
        for x, y in loader:
            xs.append(base(x))
            ys.append(y)
    return torch.cat(xs), torch.cat(ys).float().unsqueeze(1)


def extract(src, out):
    x, _ = features(vgg16_base(), src)
    np.save(out, x.numpy())
    return {'images': len(x)}


def train(data, run, epochs):
    os.makedirs(run, exist_ok=True)
    base = vgg16_base()
    xt, yt = features(base, os.path.join(data, 'train'))
    xv, yv = features(base, os.path.join(data, 'validation'))
    head = book_head()
    optimizer = torch.optim.RMSprop(head.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    train_loader = DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True)
    best = float('inf')
    for _ in range(epochs):
        head.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(head(x), y)
            loss.backward()
            optimizer.step()
        head.eval()
        with torch.no_grad():
            val_loss = loss_fn(head(xv), yv).item()
        if val_loss < best:
            best = val_loss
            torch.save({'base': base.state_dict(), 'head': head.state_dict()}, os.path.join(run, 'model.pt'))
    return {'images': len(xt) + len(xv), 'bestValLoss': best}


def evaluate(data, run):
    state = torch.load(os.path.join(run, 'model.pt'))
    base, head = vgg16_base(), book_head().eval()
    base.load_state_dict(state['base'])
    head.load_state_dict(state['head'])
    x, y = features(base, os.path.join(data, 'test'))
    with torch.no_grad():
        logits = head(x)
    accuracy = ((logits > 0).float() == y).float().mean().item()
    return {'images': len(x), 'accuracy': accuracy, 'loss': nn.BCEWithLogitsLoss()(logits, y).item()}


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'extract':
        result = extract(args[0], args[1])
    elif cmd == 'train':
        result = train(args[0], args[1], int(args[2]))
    else:
        result = evaluate(args[0], args[1])
    result.update({'seconds': time.perf_counter() - START, 'threads': torch.get_num_threads(), 'torch': torch.__version__})
    print(json.dumps(result))
