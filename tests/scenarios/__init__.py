"""Scenarios written once, run against any `Machine` (see machine.py).

Here they run in pytest on network-namespace machines (netns_machine.py); in the
NixOS VM tests the same modules run against the test driver's machines. Scenario
modules import only the standard library and each other, relatively, so the
package works under any name (`tests.scenarios` here, `scenarios` in the driver).
"""
