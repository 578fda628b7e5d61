#!/usr/bin/env python3
"""Writes the fixtures of the newer SAE architectures (Tests/SparseAutoencoderTests/Fixtures):

1. SAELens's own saves (d_in 16 = 2 heads x 8, d_sae 32), each a folder `saelens-<name>/`:
   - `topk`: TopKSAE (k 4) saved with save_model;
   - `topk-rescaled`: a TopKSAE with rescale_acts_by_decoder_norm = True and decoder rows of norms
     0.5…2 (ours folds the norms in on loading);
   - `jumprelu`: JumpReLUSAE with thresholds 0…0.6;
   - `batchtopk`: a BatchTopKTrainingSAE (k 4, topk_threshold 0.37) saved with save_inference_model,
     which SAELens writes as a JumpReLU SAE with threshold = topk_threshold everywhere.
   `modern_sae_reference.h5` has inputs `x` and SAELens's encodings `<name>/acts` and `<name>/recons`.

2. `modern_train_reference.h5`: four training steps of TopK (AuxK), BatchTopK (AuxK, threshold moving
   average) and JumpReLU (straight-through estimators, L0 loss with a warm-up) written here in plain
   PyTorch from the papers' definitions as SAELens implements them, with our trainer's recipe around them:
   the decoder constraint (gradient projection, row renormalisation) before Adam (betas (0, 0.9999)),
   constant learning rate, no gradient clipping. Each step's loss and gradients are also checked here
   against SAELens's own TopKTrainingSAE / BatchTopKTrainingSAE / JumpReLUTrainingSAE
   (training_forward_pass + backward, rescale_acts_by_decoder_norm False): the definitions are theirs.
   Some features get a very negative b_enc so they never fire and AuxK has dead features to work on
   (dead window 1 step).

Run with the reference environment (torch, sae_lens, h5py)."""
import math
import os
import warnings

warnings.filterwarnings("ignore")
import h5py
import torch
from sae_lens import JumpReLUSAE, JumpReLUSAEConfig, TopKSAE, TopKSAEConfig
from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
from sae_lens.saes.jumprelu_sae import JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig
from sae_lens.saes.sae import TrainStepInput
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "SparseAutoencoderTests", "Fixtures")
HOOK = "blocks.1.attn.hook_z"
D_IN, D_SAE = 16, 32


def random_weights(seed, decoder_norms=None):
    g = torch.Generator().manual_seed(seed)
    W_enc = torch.randn(D_IN, D_SAE, generator=g) * 0.3
    W_dec = torch.randn(D_SAE, D_IN, generator=g)
    W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
    if decoder_norms is not None:
        W_dec = W_dec * decoder_norms[:, None]
    b_enc = torch.randn(D_SAE, generator=g) * 0.1
    b_dec = torch.randn(D_IN, generator=g) * 0.1
    return {"W_enc": W_enc, "W_dec": W_dec, "b_enc": b_enc, "b_dec": b_dec}


def load(sae, sd):
    for k, v in sd.items():
        getattr(sae, k).data.copy_(v)
    return sae


@torch.no_grad()
def saved_folders(out):
    x = torch.randn(12, D_IN, generator=torch.Generator().manual_seed(3)) * 2
    out["x"] = x
    saes = {}
    cfg = TopKSAEConfig(d_in=D_IN, d_sae=D_SAE, k=4, reshape_activations="none")
    cfg.metadata.hook_name = HOOK
    saes["topk"] = load(TopKSAE(cfg), random_weights(21))
    cfg = TopKSAEConfig(d_in=D_IN, d_sae=D_SAE, k=4, rescale_acts_by_decoder_norm=True, reshape_activations="none")
    cfg.metadata.hook_name = HOOK
    saes["topk-rescaled"] = load(TopKSAE(cfg), random_weights(22, torch.linspace(0.5, 2.0, D_SAE)))
    cfg = JumpReLUSAEConfig(d_in=D_IN, d_sae=D_SAE, reshape_activations="none")
    cfg.metadata.hook_name = HOOK
    sd = random_weights(23)
    sd["threshold"] = torch.linspace(0, 0.6, D_SAE)
    saes["jumprelu"] = load(JumpReLUSAE(cfg), sd)
    for name, sae in saes.items():
        sae.save_model(os.path.join(OUT, "saelens-" + name))
    cfg = BatchTopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=4, rescale_acts_by_decoder_norm=False, reshape_activations="none")
    cfg.metadata.hook_name = HOOK
    training = load(BatchTopKTrainingSAE(cfg), random_weights(24))
    training.topk_threshold = torch.tensor(0.37, dtype=torch.double)
    training.save_inference_model(os.path.join(OUT, "saelens-batchtopk"))
    saes["batchtopk"] = JumpReLUSAE.load_from_disk(os.path.join(OUT, "saelens-batchtopk"))
    for name, sae in saes.items():
        acts = sae.encode(x)
        out[name + "/acts"] = acts
        out[name + "/recons"] = sae.decode(acts)


# The papers' definitions (as SAELens implements them), written out.
def topk_acts(pre, k):
    v, i = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, i, v.relu())


def batchtopk_acts(pre, k):
    acts = pre.relu().flatten()
    v, i = acts.topk(int(k * pre.shape[0]))
    return torch.zeros_like(acts).scatter(-1, i, v).reshape(pre.shape)


def auxk_loss(pre, x, x_hat, W_dec, dead, coeff):
    n_dead = int(dead.sum())
    if n_dead == 0:
        return x.new_tensor(0.0)
    k_aux = x.shape[-1] // 2
    scale = min(n_dead / k_aux, 1.0)
    k_aux = min(k_aux, n_dead)
    masked = torch.where(dead[None], pre, -torch.inf)
    v, i = masked.topk(k_aux, dim=-1)
    z = torch.zeros_like(pre).scatter(-1, i, v)
    residual = (x - x_hat).detach()
    return coeff * scale * (z @ W_dec - residual).pow(2).sum(-1).mean()


def rect(u):
    return ((u > -0.5) & (u < 0.5)).to(u)


class JumpReLUFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, theta, eps):
        ctx.save_for_backward(x, theta)
        ctx.eps = eps
        return x * (x > theta)

    @staticmethod
    def backward(ctx, g):
        x, theta = ctx.saved_tensors
        eps = ctx.eps
        return (x > theta) * g, -((theta / eps) * rect((x - theta) / eps) * g).sum(0), None


class StepFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, theta, eps):
        ctx.save_for_backward(x, theta)
        ctx.eps = eps
        return (x > theta).to(x)

    @staticmethod
    def backward(ctx, g):
        x, theta = ctx.saved_tensors
        eps = ctx.eps
        return None, -((1.0 / eps) * rect((x - theta) / eps) * g).sum(0), None


def training_reference(out, arch):
    torch.manual_seed({"topk": 31, "batchtopk": 32, "jumprelu": 33}[arch])
    n, lr, k, aux_coeff, window = 64, 1e-2, 4, 0.7, 1
    l0_coeff, warmup, eps, theta0 = 0.5, 2, 0.05, 0.01
    W_enc = torch.randn(D_IN, D_SAE) * 0.3
    W_dec = torch.randn(D_SAE, D_IN)
    W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
    b_enc = torch.randn(D_SAE) * 0.1
    b_enc[[3, 9, 10, 20, 27]] = -50.0                       # never fire: AuxK's dead features
    b_dec = torch.randn(D_IN) * 0.1
    params = [torch.nn.Parameter(t.clone()) for t in (W_enc, W_dec, b_enc, b_dec)]
    if arch == "jumprelu":
        params.append(torch.nn.Parameter(torch.full((D_SAE,), theta0)))
    names = ["W_enc", "W_dec", "b_enc", "b_dec", "threshold"][: len(params)]
    for name, p in zip(names, params):
        out[f"{arch}/init/{name}"] = p.detach().clone()
    opt = torch.optim.Adam(params, lr=lr, betas=(0.0, 0.9999))
    since_fired = torch.zeros(D_SAE, dtype=torch.long)
    topk_threshold = torch.tensor(0.0, dtype=torch.double)
    for step in range(4):
        x = torch.randn(n, D_IN) * 2
        out[f"{arch}/step{step}/x"] = x
        We, Wd, be, bd = params[:4]
        if arch == "jumprelu":
            with torch.no_grad():
                params[4].data.clamp_(min=0.0)
        pre = (x - bd) @ We + be
        dead = since_fired > window
        if arch == "topk":
            f = topk_acts(pre, k)
        elif arch == "batchtopk":
            f = batchtopk_acts(pre, k)
        else:
            f = JumpReLUFn.apply(pre, params[4], eps)
        x_hat = f @ Wd + bd
        mse = (x_hat - x).pow(2).sum(-1).mean()
        if arch == "jumprelu":
            coeff = l0_coeff * min(step, warmup) / warmup
            side = (coeff * StepFn.apply(pre, params[4], eps).sum(-1)).mean()
        else:
            side = auxk_loss(pre, x, x_hat, Wd, dead, aux_coeff)
        loss = mse + side
        loss.backward()
        sae_lens_check(arch, [p.detach().clone() for p in params], x, dead, mse, side, [p.grad.clone() for p in params],
                       k, aux_coeff, coeff if arch == "jumprelu" else None, eps, topk_threshold)
        with torch.no_grad():
            fired = (f != 0).any(0)
            since_fired += 1
            since_fired[fired] = 0
            if arch == "batchtopk":
                positive = f[f > 0]
                if positive.numel():
                    topk_threshold = 0.99 * topk_threshold + 0.01 * positive.min().to(torch.double)
            W = params[1]
            normed = W / W.norm(dim=-1, keepdim=True)
            W.grad -= (W.grad * normed).sum(-1, keepdim=True) * normed
            W.data = normed
        opt.step()
        opt.zero_grad()
        out[f"{arch}/step{step}/mse"] = mse.detach()
        out[f"{arch}/step{step}/side"] = side.detach()
        out[f"{arch}/step{step}/l0"] = (f != 0).float().sum(-1).mean()
        out[f"{arch}/step{step}/dead"] = torch.tensor(int(dead.sum()))
        for name, p in zip(names, params):
            out[f"{arch}/step{step}/{name}"] = p.detach().clone()
        if arch == "batchtopk":
            out[f"{arch}/step{step}/topk_threshold"] = topk_threshold.clone()


def sae_lens_check(arch, params, x, dead, mse, side, grads, k, aux_coeff, l0_coeff, eps, topk_threshold):
    """SAELens's training SAEs compute the same losses and gradients from the same weights."""
    common = dict(d_in=D_IN, d_sae=D_SAE, reshape_activations="none", apply_b_dec_to_input=True)
    if arch == "topk":
        sae = TopKTrainingSAE(TopKTrainingSAEConfig(k=k, rescale_acts_by_decoder_norm=False, aux_loss_coefficient=aux_coeff, **common))
    elif arch == "batchtopk":
        sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(k=k, rescale_acts_by_decoder_norm=False, aux_loss_coefficient=aux_coeff, **common))
        sae.topk_threshold = topk_threshold.clone()
    else:
        sae = JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(jumprelu_bandwidth=eps, l0_coefficient=1.0, **common))
    for name, p in zip(["W_enc", "W_dec", "b_enc", "b_dec", "threshold"], params):
        getattr(sae, name).data.copy_(p)
    coefficients = {"l0": l0_coeff} if arch == "jumprelu" else {}
    output = sae.training_forward_pass(TrainStepInput(sae_in=x, coefficients=coefficients, dead_neuron_mask=dead, n_training_steps=0,
                                                      is_logging_step=False))
    output.loss.backward()
    theirs = output.losses
    assert torch.allclose(theirs["mse_loss"], mse, rtol=1e-6), (arch, theirs["mse_loss"], mse)
    side_theirs = theirs.get("l0_loss", theirs.get("auxiliary_reconstruction_loss"))
    assert torch.allclose(side_theirs, side, rtol=1e-5, atol=1e-7), (arch, side_theirs, side)
    for name, g in zip(["W_enc", "W_dec", "b_enc", "b_dec", "threshold"], grads):
        assert torch.allclose(getattr(sae, name).grad, g, rtol=1e-4, atol=1e-6), (arch, name)


def main():
    out = {}
    saved_folders(out)
    with h5py.File(os.path.join(OUT, "modern_sae_reference.h5"), "w") as f:
        for key, v in out.items():
            f[key] = v.detach().numpy()
    out = {}
    for arch in ["topk", "batchtopk", "jumprelu"]:
        training_reference(out, arch)
    with h5py.File(os.path.join(OUT, "modern_train_reference.h5"), "w") as f:
        for key, v in out.items():
            f[key] = v.detach().numpy()
    print("wrote the SAELens folders, modern_sae_reference.h5 and modern_train_reference.h5 (SAELens agrees on every loss and gradient)")


if __name__ == "__main__":
    main()
