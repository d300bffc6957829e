"""`python -m wxemu [--host H] [--port P] [--apps-file FILE]`: serve the emulator in the foreground."""

from wxemu.cli import PROG_NAME, main

main(prog_name=PROG_NAME)
