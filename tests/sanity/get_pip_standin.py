"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test runs `python get_pip_<version>.py [pip args...]` to put pip into its sanity
venvs; this machine cannot reach the host it downloads from. Here the interpreter's own
ensurepip provides pip, then pip installs what ansible-test asked for from the configured
index. pip does not know the bootstrap-only flags, so they are dropped.
"""
import os
import subprocess
import sys

BOOTSTRAP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    env = dict(os.environ)
    # ensurepip sets PIP_CONFIG_FILE=/dev/null, which would hide this machine's pip configuration.
    env.pop("PIP_CONFIG_FILE", None)
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], env=env)
    args = [a for a in sys.argv[1:] if a not in BOOTSTRAP_ONLY]
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install"] + args, env=env)


if __name__ == "__main__":
    main()
