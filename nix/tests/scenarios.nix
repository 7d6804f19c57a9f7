# The scenario package (tests/scenarios) for the NixOS test driver: the modules
# the VM test scripts import, installed as the `scenarios` package with its
# py.typed marker, so the driver's mypy checks the scripts against it. Called
# with the driver's Python package set (`extraPythonPackages`).
{
  lib,
  buildPythonPackage,
  python,
}:
let
  dir = ../../tests/scenarios;
  # Standard library only: the pytest-side modules (namespace machines, Kafka
  # readers, test_*.py) stay out.
  modules = [
    "__init__.py"
    "py.typed"
    "machine.py"
    "bmp_pipeline.py"
    "flows_pipeline.py"
    "probing.py"
    "observability.py"
  ];
in
buildPythonPackage {
  pname = "nxthdr-scenarios";
  version = "0";
  pyproject = false;

  src = lib.fileset.toSource {
    root = dir;
    fileset = lib.fileset.unions (map (f: dir + "/${f}") modules);
  };

  installPhase = ''
    runHook preInstall
    mkdir -p $out/${python.sitePackages}/scenarios
    cp ${lib.escapeShellArgs modules} $out/${python.sitePackages}/scenarios/
    runHook postInstall
  '';

  pythonImportsCheck = map (f: "scenarios.${lib.removeSuffix ".py" f}") (
    lib.filter (lib.hasSuffix ".py") modules
  );

  meta.description = "nxthdr pipeline scenarios, shared by the pytest and NixOS VM tests";
}
