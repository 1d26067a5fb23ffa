"""PyTorch baseline for bench/augment.ts: the book's augment mode, written as a PyTorch user writes it.

VGG16's convolutional base (random weights, as tlkit's side: no ImageNet weights offline) at
180x180, frozen under no_grad in eval mode, behind the book's augmentation done with
torchvision transforms in DataLoader workers (num_workers = the cores): horizontal flip,
rotation by up to 0.1 of a turn (36 degrees), zoom by up to 20% (RandomAffine scale),
bilinear. The book's head (Flatten, Linear(256), Dropout(0.5), Linear(1)) trained with
RMSprop (Keras defaults: lr 1e-3, alpha 0.9, eps 1e-7), BCEWithLogitsLoss, batch 32; every
epoch a validation pass through the base (no augmentation), the best state_dict saved when
val_loss improves.

  DATA EPOCHS WORKERS   DATA has train/<class>/ and validation/<class>/ JPEGs.
Prints one JSON line: seconds per epoch, total seconds (from the script's start), threads.
"""
import time

START = time.perf_counter()
import glob, json, os, sys, tempfile
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from torchvision.transforms import InterpolationMode

torch.manual_seed(1337)
torch.set_num_threads(os.cpu_count())  # every core, as tlkit's ONNX Runtime sessions use


def vgg_block(cin, cout, convs):
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU(inplace=True)]
    return layers + [nn.MaxPool2d(2)]


base = nn.Sequential(*vgg_block(3, 64, 2), *vgg_block(64, 128, 2), *vgg_block(128, 256, 3), *vgg_block(256, 512, 3), *vgg_block(512, 512, 3)).eval()
for p in base.parameters():
    p.requires_grad = False
head = nn.Sequential(nn.Flatten(), nn.Linear(512 * 5 * 5, 256), nn.Dropout(0.5), nn.Linear(256, 1))
optimizer = torch.optim.RMSprop(head.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
loss_fn = nn.BCEWithLogitsLoss()
CAFFE_MEAN = torch.tensor([103.939, 116.779, 123.68]).view(3, 1, 1)

BILINEAR = InterpolationMode.BILINEAR
AUGMENT = transforms.Compose([
    transforms.RandomHorizontalFlip(),
    transforms.RandomRotation(36, interpolation=BILINEAR),
    transforms.RandomAffine(0, scale=(0.8, 1.2), interpolation=BILINEAR),
])


class JpegFolder(Dataset):
    """<class>/*.jpg as torchvision's ImageFolder reads it, resized to 180x180, optionally augmented."""

    def __init__(self, root, augment):
        classes = sorted(os.listdir(root))
        self.items = [(f, i) for i, c in enumerate(classes) for f in sorted(glob.glob(os.path.join(root, c, '*')))]
        self.augment = augment

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image
        path, label = self.items[i]
        with Image.open(path) as img:
            img = img.convert('RGB').resize((180, 180), Image.BILINEAR)
        if self.augment:
            img = AUGMENT(img)
        rgb = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)
        return rgb.flip(0) - CAFFE_MEAN, torch.tensor([float(label)])  # Keras's caffe preprocessing: BGR, mean


data, epochs, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
train = DataLoader(JpegFolder(os.path.join(data, 'train'), True), batch_size=32, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
val = DataLoader(JpegFolder(os.path.join(data, 'validation'), False), batch_size=32, num_workers=workers, persistent_workers=workers > 0)
best = float('inf')
checkpoint = os.path.join(tempfile.mkdtemp(), 'best.pt')
times = []
for _ in range(epochs):
    t0 = time.perf_counter()
    head.train()
    for x, y in train:
        with torch.no_grad():
            x = base(x)
        optimizer.zero_grad()
        loss = loss_fn(head(x), y)
        loss.backward()
        optimizer.step()
    head.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for x, y in val:
            total += loss_fn(head(base(x)), y).item() * len(y)
            n += len(y)
    if total / n < best:
        best = total / n
        torch.save(head.state_dict(), checkpoint)
    times.append(time.perf_counter() - t0)
print(json.dumps({'epochSeconds': times, 'seconds': time.perf_counter() - START, 'threads': torch.get_num_threads(), 'workers': workers, 'torch': torch.__version__}))
