"""Deletes all but the newest build of each test binary in a cargo deps directory.

Every commit that changes a crate leaves new test executables (`name-<hash>`) beside the old
ones; in a cached target directory they add up to tens of GB. Libraries are left alone. Test
binaries of different packages may share a name (each crate's `tests/it` builds `it-<hash>`):
the package is read from cargo's fingerprint directory of the same hash (`<package>-<hash>`).
"""
import collections
import os
import sys

deps = sys.argv[1]
if not os.path.isdir(deps):
    sys.exit(0)
fingerprints = os.path.join(deps, os.pardir, ".fingerprint")
package_of = {}
for entry in os.listdir(fingerprints) if os.path.isdir(fingerprints) else []:
    package, _, unit_hash = entry.rpartition("-")
    package_of[unit_hash] = package
builds = collections.defaultdict(list)
for name in os.listdir(deps):
    path = os.path.join(deps, name)
    if "." in name or not os.path.isfile(path) or not os.access(path, os.X_OK):
        continue
    stem, _, unit_hash = name.rpartition("-")
    builds[(package_of.get(unit_hash), stem)].append((os.path.getmtime(path), path))
freed = 0
for versions in builds.values():
    versions.sort()
    for _, path in versions[:-1]:
        freed += os.path.getsize(path)
        os.remove(path)
print(f"pruned old test binaries: {freed / 1e9:.1f} GB freed")
