"""``python -m factorgan.train [experiment=...] [key=value ...]``: see :mod:`factorgan.cli.train`.

The module is also callable, ``factorgan.train(cfg)``: importing a submodule makes it
an attribute of its package, so this module stands where the public function
:func:`factorgan.cli.train.train` would.
"""
import sys
import types

from factorgan.cli.train import main, train


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    main()
