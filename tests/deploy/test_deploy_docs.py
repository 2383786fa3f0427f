"""docs/OPERATIONS.md keeps the sections operators (and other docs) rely on."""

from deploy_support import ROOT

DOC = ROOT / "docs" / "OPERATIONS.md"
SECTIONS = [
    "Configuration",
    "Deploying with compose",
    "Deploying with Helm",
    "Secrets and key rotation",
    "Backups and restore",
    "Upgrade and rollback",
    "Scaling",
]


def test_operations_guide_has_its_sections():
    headings = [line[3:].strip() for line in DOC.read_text().splitlines() if line.startswith("## ")]
    for section in SECTIONS:
        assert section in headings, section


def test_operations_guide_is_honest_and_points_to_the_right_places():
    text = DOC.read_text()
    # Says what CI runs (the image build and smoke test, with podman) and what it does not.
    assert "no Docker engine" in text and ".ci/image.sh" in text
    # ... and that the chart runs on a real cluster in CI (.ci/k8s.sh, called by .ci/run).
    assert ".ci/k8s.sh" in text and "run by `.ci/run`" in text
    assert "NetworkPolicy enforced" in text
    assert "/v1/transactions/verify" in text
    assert "docs/BENCHMARKS.md" in text
    for path in ("deploy/helm/ordersys", "deploy/keycloak/ordersys-realm.json",
                 "deploy/otel-collector/config.yaml", "ci/values-production.yaml"):
        assert path in text, path
        assert (ROOT / path).exists() or (ROOT / "deploy/helm/ordersys" / path).exists(), path
