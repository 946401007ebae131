"""The build stage: extracted items rendered into a translation unit with
stub headers and compiled into a cached shim executable.  (Named compile/
rather than build/, a name tools take for generated output.)"""
