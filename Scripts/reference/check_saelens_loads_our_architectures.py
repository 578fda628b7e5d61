"""SAELens loads the TopK and JumpReLU folders our writer wrote (`inspect convert --sae`, SAE.save(saeLens:))
as the same classes as its own folders of those weights, with identical weights and encodings.

    python check_saelens_loads_our_architectures.py <fixtures folder> <folder with ours: topk/, jumprelu/, batchtopk/>

For each of SAELens's own saves saelens-topk, saelens-jumprelu and saelens-batchtopk (a BatchTopK SAE,
which SAELens saves as JumpReLU): our rewrite loads as TopKSAE / JumpReLUSAE with the same k,
rescale_acts_by_decoder_norm, hook name and weights (threshold included) bit for bit, and encodes and
decodes the fixture's inputs bit for bit as SAELens's folder does. Exits 1 on the first failure."""
import os
import sys
import warnings

warnings.filterwarnings("ignore")
import h5py
import torch
from sae_lens import SAE, JumpReLUSAE, TopKSAE

fixtures, ours_root = sys.argv[1:3]


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


with h5py.File(os.path.join(fixtures, "modern_sae_reference.h5")) as f:
    x = torch.tensor(f["x"][()])
for name, cls in [("topk", TopKSAE), ("jumprelu", JumpReLUSAE), ("batchtopk", JumpReLUSAE)]:
    theirs = SAE.load_from_disk(os.path.join(fixtures, "saelens-" + name), device="cpu")
    ours = SAE.load_from_disk(os.path.join(ours_root, name), device="cpu")
    check(type(ours) is cls and type(theirs) is cls, f"{name}: SAELens loads our folder as {type(ours).__name__}")
    for key in ["d_in", "d_sae", "apply_b_dec_to_input", "normalize_activations", "k", "rescale_acts_by_decoder_norm"]:
        if hasattr(theirs.cfg, key):
            check(getattr(ours.cfg, key) == getattr(theirs.cfg, key), f"{name}: cfg.{key} = {getattr(ours.cfg, key)!r}")
    check(ours.cfg.metadata.hook_name == theirs.cfg.metadata.hook_name, f"{name}: hook name")
    for p in ["W_enc", "W_dec", "b_enc", "b_dec"] + (["threshold"] if cls is JumpReLUSAE else []):
        check(torch.equal(getattr(ours, p), getattr(theirs, p)), f"{name}: {p} identical")
    with torch.no_grad():
        a_ours, a_theirs = ours.encode(x.view(x.shape[0], 2, -1)), theirs.encode(x)
        check(torch.equal(a_ours, a_theirs), f"{name}: encodings of {tuple(x.shape)} inputs identical")
        check(torch.equal(ours.decode(a_ours).reshape(x.shape), theirs.decode(a_theirs)), f"{name}: reconstructions identical")
