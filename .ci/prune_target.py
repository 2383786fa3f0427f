"""Deletes all but the newest build of each test binary in a cargo deps directory.

Every commit that changes a crate leaves new test executables (`name-<hash>`) beside the old
ones; in a cached target directory they add up to tens of GB. Libraries are left alone.
"""
import collections
import os
import sys

deps = sys.argv[1]
if not os.path.isdir(deps):
    sys.exit(0)
builds = collections.defaultdict(list)
for name in os.listdir(deps):
    path = os.path.join(deps, name)
    if "." in name or not os.path.isfile(path) or not os.access(path, os.X_OK):
        continue
    builds[name.rsplit("-", 1)[0]].append((os.path.getmtime(path), path))
freed = 0
for versions in builds.values():
    versions.sort()
    for _, path in versions[:-1]:
        freed += os.path.getsize(path)
        os.remove(path)
print(f"pruned old test binaries: {freed / 1e9:.1f} GB freed")
