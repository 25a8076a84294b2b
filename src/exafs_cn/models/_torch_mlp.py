"""The study's fully connected net as a scikit-learn classifier (torch imported on first use).

Built by ``exafs_cn.learn._models.make_model("nn")``; here because a model file may hold
one and prediction loads it without the training code.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted


class TorchMLPClassifier(ClassifierMixin, BaseEstimator):
    """Fully connected net with early stopping on a held-out slice of the training data.

    Runs on the GPU when one is available (``device="auto"``). Deterministic on the CPU
    for a given ``random_state``.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (512, 512),
        dropout: float = 0.2,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        max_epochs: int = 100,
        patience: int = 10,
        validation_fraction: float = 0.15,
        class_weight: str | None = "balanced",
        device: str = "auto",
        cpu_threads: int = 1,
        random_state: int = 0,
    ):
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.device = device
        self.cpu_threads = cpu_threads
        self.random_state = random_state

    def _device(self):
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _build(self, n_in: int, n_out: int):
        from torch import nn

        layers: list = []
        width = n_in
        for size in self.hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(self.dropout)]
            width = size
        layers.append(nn.Linear(width, n_out))
        return nn.Sequential(*layers)

    def fit(self, X, y):
        # One thread: a net this small gains nothing from intra-op threads, and with
        # the other core busy (FEFF, joblib) two threads spin-wait ~70x slower.
        with _torch_threads(self.cpu_threads):
            return self._fit(X, y)

    def _fit(self, X, y):
        import torch

        X = np.asarray(X, np.float32)
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        codes = self.encoder_.transform(y)
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        stratify = codes if np.bincount(codes).min() >= 2 else None
        train, val = train_test_split(
            np.arange(len(codes)), test_size=self.validation_fraction, random_state=self.random_state, stratify=stratify
        )
        device = self._device()
        model = self._build(X.shape[1], len(self.classes_)).to(device)
        counts = np.bincount(codes[train], minlength=len(self.classes_)).astype(np.float32)
        weights = None
        if self.class_weight == "balanced":
            weights = torch.tensor(len(train) / (len(counts) * np.maximum(counts, 1)), device=device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
        optimiser = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        Xt = torch.tensor(X, device=device)
        yt = torch.tensor(codes, device=device)
        best_loss, best_state, waited = np.inf, None, 0
        self.n_epochs_ = 0
        for _epoch in range(self.max_epochs):
            model.train()
            order = rng.permutation(train)
            for start in range(0, len(order), self.batch_size):
                batch = torch.as_tensor(order[start : start + self.batch_size], device=device)
                optimiser.zero_grad()
                loss_fn(model(Xt[batch]), yt[batch]).backward()
                optimiser.step()
            model.eval()
            with torch.no_grad():
                val_loss = float(torch.nn.functional.cross_entropy(model(Xt[val]), yt[val]))
            self.n_epochs_ += 1
            if val_loss < best_loss - 1e-4:
                best_loss, best_state, waited = val_loss, copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        model.load_state_dict(best_state)
        self.module_ = model.to("cpu").eval()
        self.best_val_loss_ = best_loss
        return self

    def predict_proba(self, X):
        import torch

        check_is_fitted(self, "module_")
        with torch.no_grad(), _torch_threads(self.cpu_threads):
            logits = self.module_(torch.tensor(np.asarray(X, np.float32)))
            return torch.softmax(logits, dim=1).numpy()

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __getstate__(self) -> dict:
        """The fitted net as plain arrays, so a model file never holds torch objects."""
        state = self.__dict__.copy()
        if "module_" in state:
            state["module_"] = {name: value.detach().cpu().numpy() for name, value in state["module_"].state_dict().items()}
        return state

    def __setstate__(self, state: dict) -> None:
        """Rebuild the net from the arrays of :meth:`__getstate__`; nothing else is executed."""
        import torch

        self.__dict__.update(state)
        weights = state.get("module_")
        if isinstance(weights, dict):
            first, last = weights["0.weight"], weights[max(weights, key=lambda k: int(k.split(".")[0]))]
            module = self._build(first.shape[1], last.shape[0])
            module.load_state_dict({name: torch.as_tensor(np.asarray(value)) for name, value in weights.items()})
            self.module_ = module.eval()


@contextmanager
def _torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
