"""The neuronpedia suite has no PyTorch baseline: SAEDashboard's Neuronpedia runner, the tool it replaces,
pins transformer-lens < 3 and does not install beside the reference environment. The Swift suite reports
its ratio to the export's floor (the SAE encoder's product over the same rows) instead."""


def run():
    return {}
