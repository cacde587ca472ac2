#!/usr/bin/env python3
"""Rewrites CUDA launches for the CPU emulator (cuda_emulator.h):
kernel<<<grid, block, shmem, stream>>>(args)  ->  cf_emu::launcher(grid, block, shmem, stream)(kernel, args)
Usage: emulate_launches.py IN.cu OUT.cpp"""
import re
import sys

source = open(sys.argv[1]).read()
# The kernel name: an identifier, optionally with template arguments (one level of nesting).
launch = re.compile(
    r"([A-Za-z_][\w:]*(?:<(?:[^<>]|<[^<>]*>)*>)?)\s*<<<(.*?)>>>\s*\(", re.S)
rewritten, count = launch.subn(lambda m: f"cf_emu::launcher({m.group(2)})({m.group(1)}, ", source)
if "<<<" in rewritten:
    sys.exit(f"emulate_launches: a launch in {sys.argv[1]} was not rewritten")
with open(sys.argv[2], "w") as out:
    out.write(f"// Generated from {sys.argv[1]} by emulate_launches.py ({count} launches).\n")
    out.write(rewritten)
