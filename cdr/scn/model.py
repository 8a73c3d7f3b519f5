"""ResNet-18 with the Self-Cure Network's self-attention importance head.

Laid out top to bottom: the residual block, the backbone, the SCN model, the builder.
The network follows He et al. (2016) ResNet-18 ([2, 2, 2, 2] basic blocks, 512-d
features); the head follows Wang et al. (CVPR 2020): one fully connected layer plus a
sigmoid gives the importance weight ``alpha`` of each image, and the logits are
``alpha * (W x)`` (the "logit-weighted" cross-entropy).
"""

from __future__ import annotations

import torch
from torch import nn

#: Architecture tag stored in ``config.json``; a checkpoint with another tag is refused.
ARCH = "scn-resnet18"
FEATURE_DIM = 512


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34 block)."""

    expansion = 1

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18 backbone: image batch -> 512-d pooled features.

    The stem is the standard one (7x7 stride-2 convolution, 3x3 stride-2 max-pool), so
    the spatial size shrinks by 32 overall; global average pooling makes any input side
    of at least 32 px work.
    """

    def __init__(self, in_chans: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths, strides = (64, 128, 256, 512), (1, 2, 2, 2)
        layers, in_ch = [], 64
        for w, s in zip(widths, strides):
            layers.append(nn.Sequential(BasicBlock(in_ch, w, s), BasicBlock(w, w, 1)))
            in_ch = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.pool(x), 1)


class SCN(nn.Module):
    """Self-Cure Network: ResNet-18 features, importance weight, weighted logits.

    Parameters
    ----------
    num_classes : int
        Number of expression classes K.
    attention : bool
        With ``False`` there is no importance branch: ``alpha`` is 1 for every image
        and the model is a plain ResNet-18 classifier.
    drop_rate : float
        Dropout on the pooled features before the classifier (a module, so that
        ``model.eval()`` switches it off).
    """

    def __init__(self, num_classes: int, *, attention: bool = True, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.attention = bool(attention)
        self.backbone = ResNet18()
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(FEATURE_DIM, self.num_classes)
        self.alpha = nn.Linear(FEATURE_DIM, 1) if self.attention else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, S, S] (normalised float) -> features [B, 512]."""
        return self.backbone(x)

    def forward_head(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features [B, 512] -> (logits [B, K], alpha [B]); logits are alpha * (W x)."""
        feats = self.dropout(feats)
        logits = self.fc(feats)
        if self.alpha is None:
            return logits, torch.ones(logits.shape[0], dtype=logits.dtype, device=logits.device)
        alpha = torch.sigmoid(self.alpha(feats)).squeeze(1)
        return alpha.unsqueeze(1) * logits, alpha

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B, 3, S, S] -> (weighted logits [B, K], alpha [B] in (0, 1))."""
        return self.forward_head(self.forward_features(x))


def build_scn(num_classes: int, *, attention: bool = True, drop_rate: float = 0.0) -> SCN:
    """Build an untrained SCN (the only constructor the trainer and the embedder use)."""
    return SCN(num_classes, attention=attention, drop_rate=drop_rate)
