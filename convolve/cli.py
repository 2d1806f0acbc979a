"""The `convolve` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="convolve", description="Keras for images, running natively on PyTorch."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train the tutorials' MNIST convnet on real digits, offline"
    )
    demo.add_argument("--epochs", type=int, default=12, help="maximum epochs (default 12)")
    demo.add_argument(
        "--output-dir", default="demo-output", help="folder for the training-curve plot"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from convolve.demo import run

        if args.epochs <= 0:
            parser.error(f"--epochs must be positive, received {args.epochs}")
        run(epochs=args.epochs, output_dir=args.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
