"""A plugin module that fails at import, as a broken third-party plugin would."""

from core import Manifest

manifest = Manifest(name="raiser", version="0.1", label="Raiser")

raise RuntimeError("the raiser plugin cannot find its configuration")
