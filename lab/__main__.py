"""Command line for any kind of this project: `python -m lab info PATH` and `python -m lab generate ...`
are `python -m rwkv_core`'s commands with the loader of every registered kind (lab.load_model), so an
LSTM's, a red-line RNN's or a GPT's checkpoint works too."""
import lab
from rwkv_core import __main__ as cli

if __name__ == "__main__":
    cli.LOADER = lab.load_model
    cli.main(prog="python -m lab", description="any model kind of this project (lab.kinds)")
