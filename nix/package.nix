# The nxthdr Python application: collectors (risotto, pesto), the probing
# programs (saimiris) and the `nxthdr` entry point, with the Cap'n Proto and
# JSON schemas shipped as package data (nxthdr.schemas).
{
  lib,
  python3Packages,
  # The embedded ClickHouse store (pyproject extra `embedded`): nixpkgs has no
  # chdb, so it comes from ./chdb-core.nix (the upstream wheel, x86_64-linux).
  # Off by default: the platform's hosts use a ClickHouse server; the demo app
  # turns it on.
  withEmbeddedStore ? false,
}:

let
  pyproject = lib.importTOML ../pyproject.toml;
in
python3Packages.buildPythonApplication {
  pname = "nxthdr";
  inherit (pyproject.project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../nxthdr
      ../schemas
      ../tests
      # The ClickHouse table SQL (package data of nxthdr.clickhouse_tables).
      (lib.fileset.maybeMissing ../clickhouse-tables)
    ];
  };

  build-system = [ python3Packages.setuptools ];

  dependencies =
    with python3Packages;
    [
      pycapnp
      aiokafka
      clickhouse-connect
      prometheus-client
      pyyaml
      jsonschema
      aiohttp
      joserfc
      asyncpg
    ]
    ++ lib.optional withEmbeddedStore (python3Packages.callPackage ./chdb-core.nix { });

  # The Cap'n Proto schemas also go where ClickHouse's format_schema_path
  # can point (services.nxthdr.clickhouse).
  postInstall = ''
    install -Dm444 -t $out/share/nxthdr/schemas schemas/*.capnp
  '';

  nativeCheckInputs = with python3Packages; [
    pytestCheckHook
    hypothesis
  ];

  # Unit tests only: tests marked `integration` need network namespaces
  # (root) and real routers; the Kafka broker and PostgreSQL fixtures skip
  # themselves when their programs are absent, as they are in the sandbox.
  disabledTestMarks = [ "integration" ];
  disabledTestPaths = [
    # These evaluate the Nix files themselves with nix-instantiate.
    "tests/nix"
  ];
  # The collectors' tests listen on loopback ports.
  __darwinAllowLocalNetworking = true;

  pythonImportsCheck = [
    "nxthdr"
    "nxthdr.risotto.cli"
    "nxthdr.pesto.cli"
    "nxthdr.saimiris.cli"
  ];

  meta = {
    description = pyproject.project.description;
    homepage = "https://github.com/nxthdr";
    license = lib.licenses.mit;
    mainProgram = "nxthdr";
    platforms = lib.platforms.linux;
  };
}
