from minimd.block import render
from minimd.inline import render_inline

__all__ = ["render", "render_inline"]
