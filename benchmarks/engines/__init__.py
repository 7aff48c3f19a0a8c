"""The GD loops that benchmarks/gd_steps.py times side by side, one module per engine or peer.

- :mod:`engines.jax_gd`: ours, the engine's compiled ``train_chunk`` (:class:`~engines.jax_gd.Engine`);
- :mod:`engines.numpy_gd`: the same GD by hand in NumPy (:class:`~engines.numpy_gd.NumpyGD`), the
  reference every other loop's iterates are checked against (:func:`~engines.numpy_gd.rel_diff`);
- :mod:`engines.torch_eager`: Arora et al.'s reference step in PyTorch eager
  (:class:`~engines.torch_eager.TorchEagerGD`);
- :mod:`engines.torch_compile`: the same step under ``torch.compile``
  (:class:`~engines.torch_compile.TorchCompiledGD`);
- :mod:`engines.flops`: the FLOP count of one step and the dense-matmul peak loops.

Import these only after the thread environment is pinned (gd_steps.py does it before importing
jax or numpy); benchmarks/ is on ``sys.path`` when a benchmark runs as a script.
"""
