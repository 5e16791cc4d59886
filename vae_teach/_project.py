"""Where the project's source lives: the one definition the notebooks' setup cell, `_config.yml`'s
launch buttons and the README use (a test checks that they agree). A fork changes it here only,
then runs ``python -m vae_teach.tools.setup_cell`` and edits `_config.yml`'s `repository:`."""
REPOSITORY = "https://github.com/vae-teach/vae-teach"
REVISION = "main"
INSTALL_SPEC = f"vae_teach @ git+{REPOSITORY}@{REVISION}"
