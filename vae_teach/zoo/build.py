"""Train a zoo spec with the package's own code, measure it, write weights + manifest; verify (``zoo verify``)."""
from __future__ import annotations

import time

import torch

from .. import data as _data
from ..precision import cpu_name
from . import specs, store

# How each kind is stored. fp16 halves a VAE's file; the metrics in the manifest are measured on the
# weights as shipped (after the fp16 round trip), beside the fp32 figure, and tests/test_zoo.py checks that
# the two agree at the precision the book prints (0.1 nats). The classifiers stay fp32 (they are small).
STORAGE = {"classifier": torch.float32, "vae": torch.float16, "ae": torch.float16,
           "cvae": torch.float16,  # chapter 15
           "hierarchical": torch.float16,  # chapter 14
           "vqvae": torch.float32, "code_prior": torch.float32}  # chapter 16: small, and argmins kept exact

# Metrics are stored rounded; `verify` recomputes them from the shipped weights and must match to this
# many decimals (evaluation of fixed weights in fp32 is stable across machines far below that).
DECIMALS = 4


def build(spec: specs.Spec) -> torch.nn.Module:
    """An untrained model of the spec's architecture (the shape the weights load into)."""
    if spec.kind == "classifier":
        from ..fid import MNISTClassifier

        return MNISTClassifier(spec.dataset)
    if spec.kind == "cvae":  # chapter 15: the conditional VAE
        from ..cvae import build_cvae

        return build_cvae(**spec.model)
    if spec.kind == "hierarchical":  # chapter 14: two stochastic layers
        from ..hierarchical import build_hierarchical

        return build_hierarchical(spec.model)
    if spec.kind == "vqvae":  # chapter 16
        from ..vq import build_vqvae

        return build_vqvae(spec.model)
    if spec.kind == "code_prior":  # chapter 16
        from ..code_prior import CodePrior

        k = specs.get(spec.model["vqvae"]).model["codebook_size"]
        return CodePrior(k, embed=spec.model["embed"], hidden=spec.model["hidden"])
    from ..models import build_model

    return build_model(kind=spec.kind, **spec.model)


def _images(spec: specs.Spec, train: bool):
    load = _data.load_mnist if spec.dataset == "mnist" else _data.load_fashion_mnist
    return load(train)


def metrics(spec: specs.Spec, model: torch.nn.Module) -> dict:
    """The test metrics the manifest records (and `verify` recomputes), rounded to DECIMALS."""
    x, y = _images(spec, False)
    if spec.kind == "classifier":
        from ..fid import accuracy

        return {"test accuracy": round(accuracy(model, x, y), DECIMALS)}
    if spec.kind in ("vqvae", "code_prior"):  # chapter 16
        return _vq_metrics(spec, model, x)
    from ..evaluate import negative_elbo

    if spec.data == "dynamic":
        x = _data.binarize_static(x, seed=0)
    if spec.kind == "ae":  # an autoencoder has no ELBO: its training objective, per image
        from ..train import evaluate_terms

        recon = spec.objective.get("recon", "auto")
        return {f"test reconstruction error ({recon}, per image)": round(evaluate_terms(model, x, recon=recon)[0], DECIMALS)}
    if spec.kind == "cvae":  # chapter 15: a bound on -log p(x|y), the test labels given
        return {"test negative conditional ELBO (nats/image)": round(negative_elbo(model, x, labels=y), DECIMALS)}
    prior = {k: spec.objective[k] for k in ("prior_mu", "prior_logvar") if k in spec.objective}  # the model's own prior
    return {"test negative ELBO (nats/image)": round(negative_elbo(model, x, **prior), DECIMALS)}


def _vq_codes(model, x, batch_size: int = 1000):
    """The code maps [N, 7, 7] of images ``x`` under a VQ-VAE (fp32, eval mode)."""
    with torch.no_grad():
        return torch.cat([model.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def _vq_metrics(spec: specs.Spec, model, x) -> dict:
    """Chapter 16: a VQ-VAE's test reconstruction and code usage; a code prior's test NLL of code maps."""
    from ..vq import code_usage, perplexity

    if spec.kind == "code_prior":
        from . import load
        from ..code_prior import mean_nll

        codes = _vq_codes(load(spec.model["vqvae"]), x)
        return {"test NLL of the code maps (nats/map)": round(mean_nll(model, codes), DECIMALS)}
    from ..train import evaluate_terms

    counts = code_usage(_vq_codes(model, x), model.config.codebook_size)
    return {"test reconstruction (BCE, nats/image)": round(evaluate_terms(model, x)[1], DECIMALS),
            "test code perplexity": round(perplexity(counts), DECIMALS), "test codes used": int((counts > 0).sum())}


def _train_code_prior(spec: specs.Spec):
    """Chapter 16: fit the prior to the code maps of the training images under the shipped VQ-VAE."""
    from . import load
    from ..code_prior import fit_prior

    vq = load(spec.model["vqvae"])
    codes = _vq_codes(vq, _images(spec, True)[0])
    test_codes = _vq_codes(vq, _images(spec, False)[0])
    torch.manual_seed(spec.seed)
    model = build(spec)
    hist = fit_prior(model, codes, test_codes, seed=spec.seed, **spec.recipe)
    return model, hist.to_dict(), "fp32"


def _init_from(model: torch.nn.Module, parent: str, parent_spec: str) -> None:
    """Copy the shipped (verified) weights of zoo model ``parent`` into ``model``: a recipe that continues training
    (a warm restart with a fresh optimizer and a new learning-rate cycle). ``parent_spec`` is the parent's spec digest
    when the child's spec was written, so a retrained, different parent makes the child's recipe refuse to run."""
    from . import load

    if specs.get(parent).digest() != parent_spec:
        raise ValueError(f"this spec continues {parent!r} as trained from spec {parent_spec}, but that model's spec "
                         f"is now {specs.get(parent).digest()}: update the child's 'init_spec' or restore the parent")
    model.load_state_dict(load(parent).state_dict())  # copies values only: the fresh model stays trainable


def train(name: str) -> dict:
    """Train ``name`` from scratch per its spec, save its weights and manifest entry; returns the entry."""
    spec = specs.get(name)
    # Everything the measurement after training needs is imported now, not an hour later from files that
    # may have changed on disk in between (an edited checkout would otherwise lose the trained model).
    from .. import evaluate, train as _train  # noqa: F401
    if spec.kind == "cvae":
        from .. import cvae  # noqa: F401

    t0 = time.perf_counter()
    if spec.kind == "classifier":
        from ..fid import train_classifier

        r = spec.recipe
        model = train_classifier(spec.dataset, epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"],
                                 seed=spec.seed)
        history, ran = None, "fp32"
    elif spec.kind == "code_prior":  # chapter 16
        model, history, ran = _train_code_prior(spec)
    else:
        from ..train import fit

        x, y = _images(spec, True)
        xt, yt = _images(spec, False)
        torch.manual_seed(spec.seed)
        model = build(spec)
        recipe = dict(spec.recipe)
        if "init_from" in recipe:  # a warm restart: start from another zoo model's shipped weights
            _init_from(model, recipe.pop("init_from"), recipe.pop("init_spec"))
        labels = dict(train_labels=y, test_labels=yt) if spec.kind == "cvae" else {}  # chapter 15
        hist = fit(model, x, xt, seed=spec.seed, precision=spec.precision,
                   binarize="dynamic" if spec.data == "dynamic" else None, desc=name,
                   **spec.objective, **recipe, **labels)
        history, ran = hist.to_dict(), hist.precision
    seconds = time.perf_counter() - t0
    model.eval()
    before_storage = metrics(spec, model)
    path = store.save_weights(name, model.state_dict(), STORAGE[spec.kind])
    model.load_state_dict(store.load_weights(path))  # measure what is shipped
    tail = None
    if history and history["test_loss"]:
        k = max(1, len(history["test_loss"]) // 10)  # the last tenth of the epochs
        tail = round(history["test_loss"][-k - 1] - history["test_loss"][-1], 3) if len(history["test_loss"]) > k else None
    entry = {"spec": spec.digest(), "improvement over the last tenth of the epochs (nats/image)": tail, "sha256": store.sha256(path), "bytes": len(store.safetensors_bytes(path)),
             "epochs": spec.recipe.get("epochs"), "train seconds": round(seconds, 1), "cpu": cpu_name(),
             "threads": torch.get_num_threads(), "torch": torch.__version__, "precision": ran,
             "storage": str(STORAGE[spec.kind]).replace("torch.", ""), "metrics": metrics(spec, model),
             "metrics in fp32, before storage": before_storage, "history": history}
    store.write_entry(name, entry)
    return entry


# The likelihood figure of chapters 11-14: IWAE with k = 5000 on all 10,000 statically binarized test images, as in
# `bench --nll`. Half an hour of CPU per model, so it is measured once (``zoo nll NAME``) and recorded in the
# manifest beside the training figures; `verify` does not recompute it (the chapters re-estimate it on a subset).
NLL_KEY = "IWAE NLL"


def nll(name: str, k: int = 5000, n_test: int | None = None) -> dict:
    """Measure -L_k on the statically binarized test set (seed 0) for a binarized-MNIST VAE and record it in the
    manifest under ``"IWAE NLL"``: nats per image (sum over pixels, mean over images), its standard error over the
    images, k, the number of images, minutes and threads."""
    import math

    from . import entry, load
    from ..evaluate import iwae_log_likelihood

    spec = specs.get(name)
    if spec.data != "dynamic" or spec.kind not in ("vae", "hierarchical"):
        raise ValueError(f"{name!r} is not a VAE trained on binarized MNIST: its IWAE bound is not a likelihood "
                         "of binary images (zoo nll is for the dynamically binarized models of chapters 12-14)")
    model = load(name)
    x = _data.binarize_static(_images(spec, False)[0], seed=0)[:n_test]
    t0 = time.perf_counter()
    ll = iwae_log_likelihood(model, x, k=k, batch_size=10, seed=0, desc=f"{name} IWAE-{k}").double()
    result = {"nats/image": round(-float(ll.mean()), DECIMALS),
              "standard error": round(float(ll.std() / math.sqrt(len(ll))), DECIMALS), "k": k,
              "test images": len(x), "test binarization": "binarize_static(seed=0)",
              "eval minutes": round((time.perf_counter() - t0) / 60, 2), "threads": torch.get_num_threads()}
    store.write_entry(name, {**entry(name), NLL_KEY: result})
    return result


def verify(names: list[str] | None = None) -> list[str]:
    """Recompute each model's test metrics from the shipped weights; returns the mismatches (empty: all good)."""
    from . import load

    problems = []
    for name in names or list(specs.SPECS):
        try:
            model = load(name)
        except Exception as e:  # missing / corrupt / stale: report, go on with the others
            problems.append(f"{name}: {e}")
            continue
        want = store.read_manifest()[name]["metrics"]
        got = metrics(specs.get(name), model)
        if got != want:
            problems.append(f"{name}: recomputed {got}, manifest says {want}")
    return problems
