"""The `interp` suite has no PyTorch baseline: its figures are ratios against our own model forward
(the part of the dashboard pass that is not SAE work) and against the 70% encoder-share target."""


def run():
    return {}
