"""`runbrief top` and `runbrief tail`: live views of a store in the terminal.

``feed`` holds their two operations (``top``, ``tail``: plain library functions over the
store, so a running server answers them over HTTP like any other) and imports no
terminal library; ``app`` is the Textual application and is imported only by the
``top`` command itself, so ``runbrief --help`` never pays for Textual.
"""
