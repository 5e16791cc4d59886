"""Where the project's source lives: the one definition of its public URL and revision.

Used by every notebook's setup cell (``vae_teach.tools.setup_cell`` renders it into the cell's
install line) and by ``_config.yml``'s launch buttons (the same tool writes its ``repository:``);
the README's links are checked against it (``tests/test_setup_cell.py``). A fork changes these two
lines, then runs ``python -m vae_teach.tools.setup_cell``.
"""
REPOSITORY = "https://github.com/vae-teach/vae-teach"
REVISION = "main"
INSTALL_SPEC = f"vae_teach @ git+{REPOSITORY}@{REVISION}"
