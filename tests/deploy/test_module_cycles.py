""".ci/module_cycles.py on tiny crates written here: which cycles it names and which it leaves."""

import importlib.util
import subprocess
import sys
from pathlib import Path

from deploy_support import ROOT

SCRIPT = ROOT / ".ci" / "module_cycles.py"
_spec = importlib.util.spec_from_file_location("module_cycles", SCRIPT)
module_cycles = importlib.util.module_from_spec(_spec)
sys.modules["module_cycles"] = module_cycles  # dataclasses look their module up there
_spec.loader.exec_module(module_cycles)


def crate(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "demo" / "src"
    for name, text in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return src


def cycles(tmp_path: Path, files: dict[str, str]) -> list[str]:
    return module_cycles.cycles(crate(tmp_path, files), tmp_path)


def test_siblings_that_import_each_other_are_a_cycle(tmp_path):
    found = cycles(tmp_path, {
        "lib.rs": "mod a;\nmod b;\n",
        "a.rs": "use crate::b::B;\npub struct A;\n",
        "b.rs": "pub struct B;\nfn f() -> crate::a::A { crate::a::A }\n",
    })
    assert len(found) == 1
    assert "cycle among a, b" in found[0]
    assert "a -> b  (demo/src/a.rs:1)" in found[0]
    assert "b -> a  (demo/src/b.rs:2)" in found[0]


def test_a_ring_of_three_is_one_cycle_and_a_chain_is_none(tmp_path):
    ring = {
        "lib.rs": "mod a;\nmod b;\nmod c;\n",
        "a.rs": "use crate::b::B;\npub struct A;\n",
        "b.rs": "use crate::c::C;\npub struct B;\n",
        "c.rs": "use crate::a::A;\npub struct C;\n",
    }
    found = cycles(tmp_path / "ring", ring)
    assert len(found) == 1 and "cycle among a, b, c" in found[0]
    chain = dict(ring, **{"c.rs": "pub struct C;\n"})
    assert cycles(tmp_path / "chain", chain) == []


def test_a_parent_and_its_children_are_no_cycle(tmp_path):
    # outbox/mod.rs re-exports its children; the children share the parent's own type.
    assert cycles(tmp_path, {
        "lib.rs": "pub mod outbox;\npub use outbox::Relay;\n",
        "outbox/mod.rs": "mod relay;\nmod pipeline;\npub use relay::Relay;\npub struct Lease;\n",
        "outbox/relay.rs": "use super::pipeline::Pipeline;\nuse super::Lease;\npub struct Relay;\n",
        "outbox/pipeline.rs": "use super::Lease;\nuse crate::outbox::Lease as L;\npub struct Pipeline;\n",
    }) == []


def test_a_parents_re_export_leads_to_the_sibling_that_defines_it(tmp_path):
    found = cycles(tmp_path, {
        "lib.rs": "mod outbox;\n",
        "outbox/mod.rs": "mod pipeline;\nmod relay;\npub use relay::{deliver_once, Delivered};\n",
        "outbox/relay.rs": "use super::pipeline::{post, Pipeline};\npub struct Delivered;\npub fn deliver_once() {}\n",
        "outbox/pipeline.rs": "use super::Delivered;\npub struct Pipeline;\npub fn post() {}\n",
    })
    assert len(found) == 1
    assert "cycle among outbox::pipeline, outbox::relay" in found[0]


def test_a_child_and_a_module_outside_its_subtree_are_a_cycle(tmp_path):
    # store's child uses tree; tree uses store's own trait: store <-> transparency.
    found = cycles(tmp_path, {
        "lib.rs": "mod store;\nmod transparency;\n",
        "store/mod.rs": "mod sqlite;\npub trait Store {}\n",
        "store/sqlite.rs": "use crate::transparency::tree::Tree;\n",
        "transparency/mod.rs": "pub mod tree;\n",
        "transparency/tree.rs": "use crate::store::Store;\npub struct Tree;\n",
    })
    assert len(found) == 1
    assert "cycle among store, transparency" in found[0]
    assert "store::sqlite -> transparency::tree" in found[0]
    assert "transparency::tree -> store  (demo/src/transparency/tree.rs:1)" in found[0]


def test_deeper_modules_count_as_their_depth_two_ancestor(tmp_path):
    found = cycles(tmp_path, {
        "lib.rs": "mod t;\n",
        "t/mod.rs": "mod a;\nmod b;\n",
        "t/a/mod.rs": "mod inner;\n",
        "t/a/inner.rs": "use super::super::b::B;\npub struct I;\n",
        "t/b.rs": "use crate::t::a::inner::I;\npub struct B;\n",
    })
    assert len(found) == 1 and "cycle among t::a, t::b" in found[0]
    assert "t::a -> t::b" in found[0]


def test_comments_strings_tests_and_other_crates_make_no_edge(tmp_path):
    assert cycles(tmp_path, {
        "lib.rs": "mod a;\nmod b;\n",
        "a.rs": "use crate::b::B;\nuse other_crate::a::X;\npub struct A;\n",
        "b.rs": (
            "// crate::a::A is mentioned here only\n"
            "/* and crate::a::A /* nested */ here */\n"
            "const S: &str = \"crate::a::A\";\n"
            "const R: &str = r#\"use crate::a::A;\"#;\n"
            "const C: char = '{';\n"
            "pub struct B;\n"
            "#[cfg(test)]\nmod tests {\n    use crate::a::A;\n}\n"
            "#[cfg(test)]\nmod more_tests;\n"
        ),
    }) == []


def test_inline_modules_resolve_super_from_where_they_are(tmp_path):
    found = cycles(tmp_path, {
        "lib.rs": "mod a;\nmod b;\n",
        "a.rs": "pub mod inner {\n    use super::super::b::B;\n}\npub struct A;\n",
        "b.rs": "use crate::a::A;\npub struct B;\n",
    })
    assert len(found) == 1 and "a::inner -> b  (demo/src/a.rs:2)" in found[0]


def test_globs_aliases_and_grouped_uses_are_followed(tmp_path):
    found = cycles(tmp_path, {
        "lib.rs": "mod a;\nmod b;\nmod c;\n",
        "a.rs": "use crate::{b::{self as bee}, c::*};\nfn f() { bee::g(); }\npub struct A;\n",
        "b.rs": "pub fn g() {}\n",
        "c.rs": "pub use crate::b::g;\nfn h() -> crate::a::A { crate::a::A }\n",
    })
    assert len(found) == 1 and "cycle among a, c" in found[0]


def test_the_script_exits_1_naming_each_cycle_and_0_without(tmp_path):
    src = crate(tmp_path / "bad", {
        "lib.rs": "mod a;\nmod b;\n",
        "a.rs": "use crate::b::B;\npub struct A;\n",
        "b.rs": "use crate::a::A;\npub struct B;\n",
    })
    run = subprocess.run([sys.executable, str(SCRIPT), str(src)], capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "cycle among a, b" in run.stdout and "1 module cycle(s)" in run.stdout
    good = crate(tmp_path / "good", {"lib.rs": "mod a;\n", "a.rs": "pub struct A;\n"})
    run = subprocess.run([sys.executable, str(SCRIPT), str(good)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no module cycles in 1 crate(s)" in run.stdout
