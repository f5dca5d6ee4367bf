"""Unit tests import the collection as `ansible_collections.ulhpc.workspace...`.

`.collections/ansible_collections/ulhpc/workspace` is a symlink to the repository root.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
