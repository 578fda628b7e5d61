"""SAELens itself loads the folder our writer wrote (`inspect convert`, SAE.save(saeLens:)) and encodes
with it exactly as with its own folder of the same weights.

    python check_saelens_loads_ours.py <our folder> <SAELens's folder> <sae_reference.h5>

Checks: SAELens's `SAE.load_from_disk` accepts our folder as a StandardSAE; it reads the same d_in,
d_sae, hook name and apply_b_dec_to_input, and reshape_activations "hook_z" (ours takes hook_z's
[..., head, d_head] as TransformerLens gives it, so it is fed the fixture's inputs unflattened); its weights equal those of its own folder bit for bit; its
encodings, hidden pre-activations and reconstructions of the fixture's inputs equal, bit for bit, those
of its own folder (same weights, same torch ops), and equal the fixture's stored SAELens outputs (written on
another machine, so to float rounding, with the same features firing). (Our
Swift encodings match those within 1e-5 in SparseAutoencoderTests: different summation orders are
never compared for equality.) Prints one line per check; exits 1 on the first failure."""
import sys
import warnings

warnings.filterwarnings("ignore")
import h5py
import torch
from sae_lens import SAE, StandardSAE

ours_dir, theirs_dir, reference = sys.argv[1:4]


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


ours = SAE.load_from_disk(ours_dir, device="cpu")
theirs = SAE.load_from_disk(theirs_dir, device="cpu")
check(isinstance(ours, StandardSAE), f"SAELens loads our folder as {type(ours).__name__}")
for key in ["d_in", "d_sae", "apply_b_dec_to_input", "normalize_activations"]:
    check(getattr(ours.cfg, key) == getattr(theirs.cfg, key), f"cfg.{key} = {getattr(ours.cfg, key)!r}")
check(ours.cfg.metadata.hook_name == theirs.cfg.metadata.hook_name, f"hook name {ours.cfg.metadata.hook_name}")
for name in ["W_enc", "W_dec", "b_enc", "b_dec"]:
    check(torch.equal(getattr(ours, name), getattr(theirs, name)), f"{name} identical")
with h5py.File(reference) as f:
    x = torch.tensor(f["x"][()])
    stored_acts, stored_recons = torch.tensor(f["acts"][()]), torch.tensor(f["recons"][()])
# Our folder declares reshape_activations "hook_z" (the SAE reads blocks.L.attn.hook_z, [..., head, d_head]);
# the fixture's folder was written with "none" and takes the heads already flattened.
check(ours.cfg.reshape_activations == "hook_z", f"cfg.reshape_activations = {ours.cfg.reshape_activations!r} (ours), takes hook_z as it is")
n_heads = 2
with torch.no_grad():
    a_ours, a_theirs = ours.encode(x.view(x.shape[0], n_heads, -1)), theirs.encode(x)
    check(torch.equal(a_ours, a_theirs), f"encodings of {tuple(x.shape)} inputs identical")
    r_ours = ours.decode(a_ours).reshape(theirs.decode(a_theirs).shape)
    check(torch.equal(r_ours, theirs.decode(a_theirs)), "reconstructions identical")
    # The stored outputs came from another machine's torch kernels (another summation order): equal up to
    # float rounding, not bit for bit; the same firing pattern exactly.
    check(torch.equal(a_ours > 0, stored_acts > 0) and torch.allclose(a_ours, stored_acts, rtol=1e-5, atol=1e-6)
          and torch.allclose(r_ours, stored_recons, rtol=1e-5, atol=1e-6),
          "equal to the fixture's stored SAELens outputs (to float rounding; the same features fire)")
