#!/usr/bin/perl
# cu2cpp.pl FILE.cu: prints FILE.cu as C++ for g++ and the headers of
# cuda/emu/include, rewriting the two constructs of the CUDA language that
# C++ lacks (see include/emu.h):
#   kernel<<<grid, block, shared, stream>>>(args)  ->  EMU_LAUNCH(kernel, grid, block, shared, stream)(args)
#   __shared__ T name[N];                          ->  EMU_SHARED(T, name, N);
# Line breaks are kept and a #line directive names FILE.cu, so compiler
# messages and __syncthreads sites point into the original file.
use strict;
use warnings;

my $file = shift or die "usage: cu2cpp.pl FILE.cu\n";
open(my $in, '<', $file) or die "cu2cpp.pl: $file: $!\n";
my $src = do { local $/; <$in> };
close($in);
$src =~ s/([A-Za-z_]\w*(?:<[^<>;()]*>)?)(\s*)<<<(.*?)>>>/EMU_LAUNCH($1,$2$3)/gs;
$src =~ s/__shared__\s+([\w:<>]+)\s+(\w+)\[([^\]]+)\];/EMU_SHARED($1, $2, $3);/g;
print "#line 1 \"$file\"\n", $src;
