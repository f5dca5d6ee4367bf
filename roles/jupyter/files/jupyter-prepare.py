# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Prepare the workspace's Jupyter server in one process (one Ansible task instead of four):
#   - the config file argv[1] from the text argv[2], where @HASHED_PASSWORD@ becomes the
#     argon2 hash of the password read from stdin, as `jupyter server password` computes it
#     (the hash already in the file is kept when it matches the password: a new salt on
#     every run would change the config and restart the server), mode 0600;
#   - the kernelspec argv[3] (display name argv[4]) through `ipykernel install --user`, its
#     command then pointed at argv[5], the wrapper that loads the venv's environment modules;
#   - the notebooks directory argv[6] (mode 0700), listing the notebooks already there;
#   - the IPython profile argv[8] that the kernel runs with (created when missing): a bare
#     `ipp.Client()` in the kernel looks for its cluster in the kernel's profile.
# argv[7] is "apply", or "check" to only report. Prints JSON, never the password.
import hashlib
import json
import os
import re
import subprocess
import sys

from IPython.core.profiledir import ProfileDir, ProfileDirError
from IPython.paths import get_ipython_dir
from ipykernel.kernelspec import get_kernel_dict
from jupyter_core.paths import jupyter_data_dir
from jupyter_server.auth import passwd, passwd_check

config_path, config_text, kernel_name, display_name, wrapper, notebooks_dir, mode, profile = sys.argv[1:9]
apply = mode == "apply"
password = sys.stdin.read()
changed = []


def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def write(path, text, bits):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, bits)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, bits)
    os.replace(tmp, path)


old = read(config_path)
match = re.search(r"^c\.PasswordIdentityProvider\.hashed_password = \"([^\"]+)\"$", old or "", re.M)
if match and passwd_check(match.group(1), password):
    hashed = match.group(1)
else:
    hashed = passwd(password, algorithm="argon2")
text = config_text.rstrip("\n").replace("@HASHED_PASSWORD@", hashed) + "\n"
if old != text or os.stat(config_path).st_mode & 0o777 != 0o600:
    changed.append("config")
    if apply:
        write(config_path, text, 0o600)

want = get_kernel_dict()
want["argv"][0] = wrapper
want["argv"].append("--profile=" + profile)
want["display_name"] = display_name
kernel_json = os.path.join(jupyter_data_dir(), "kernels", kernel_name, "kernel.json")
try:
    have = json.loads(read(kernel_json) or "null")
except ValueError:
    have = None
if have != want:
    changed.append("kernelspec")
    if apply:
        subprocess.check_call([sys.executable, "-m", "ipykernel", "install", "--user", "--name", kernel_name,
                               "--display-name", display_name], stdout=sys.stderr)
        write(kernel_json, json.dumps(want, indent=1) + "\n", 0o644)

try:
    ProfileDir.find_profile_dir_by_name(get_ipython_dir(), profile)
except ProfileDirError:
    changed.append("ipython profile")
    if apply:
        ProfileDir.create_profile_dir_by_name(get_ipython_dir(), profile)

notebooks_dir = os.path.expanduser(notebooks_dir)
exists = os.path.isdir(notebooks_dir)
if not exists:
    changed.append("notebooks directory")
    if apply:
        os.makedirs(notebooks_dir, 0o700)
present = sorted(name for name in os.listdir(notebooks_dir) if name.endswith(".ipynb")) if exists else []
# The digest of the config as written (or, in check mode, as it would be): the launcher
# fingerprints the server's config by it, without reading the file again.
print(json.dumps({"changed": changed, "kernelspec": kernel_json, "notebooks_dir_exists": exists or apply,
                  "notebooks": present, "config_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}))
