"""LeNet-5 on the handwritten digits: train (train.py), transfer learning (finetune.py), the depth
experiment (depth.py), predict, and their commands (cli.py)."""
