"""kerasgan's pretrained presets: one folder each (installed as `kerasgan.presets`).

Load them with `kerasgan.zoo.load(NAME)`; list them with `kerasgan.zoo.list(pretrained=True)`.
"""
