#!/usr/bin/perl
# tests/integration/netpop3-fetch.pl: a POP3 download with Perl's Net::POP3
# for clients_real.py.  Fetches every message whose UIDL is not listed in
# SEEN into OUTDIR (one file each, named by message number, as Net::POP3
# gives it: LF line ends, dot-stuffing undone), adds the UIDLs to SEEN,
# and in delete mode marks each fetched message deleted before QUIT.
#   usage: netpop3-fetch.pl HOST PORT USER PASSWORD OUTDIR SEEN keep|delete
use strict;
use warnings;
use Net::POP3;

die "usage: $0 HOST PORT USER PASSWORD OUTDIR SEEN keep|delete\n"
    unless @ARGV == 7;
my ($host, $port, $user, $pass, $outdir, $seenfile, $mode) = @ARGV;
die "mode must be keep or delete\n" unless $mode =~ /^(keep|delete)$/;

my %seen;
if (open my $in, '<', $seenfile) {
	chomp(my @ids = <$in>);
	%seen = map { $_ => 1 } @ids;
	close $in;
}

my $pop = Net::POP3->new($host, Port => $port, Timeout => 60)
    or die "connect $host:$port: $@\n";
defined $pop->login($user, $pass) or die "login failed: ", $pop->message;
my $uidls = $pop->uidl or die "UIDL failed: ", $pop->message;

open my $out, '>>', $seenfile or die "$seenfile: $!\n";
my $fetched = 0;
for my $n (sort { $a <=> $b } keys %$uidls) {
	next if $seen{$uidls->{$n}};
	my $lines = $pop->get($n) or die "RETR $n failed: ", $pop->message;
	my $file = sprintf '%s/%05d', $outdir, $n;
	open my $msg, '>:raw', $file or die "$file: $!\n";
	print $msg @$lines or die "$file: $!\n";
	close $msg or die "$file: $!\n";
	print $out "$uidls->{$n}\n";
	if ($mode eq 'delete') {
		$pop->delete($n) or die "DELE $n failed: ", $pop->message;
	}
	$fetched++;
}
close $out or die "$seenfile: $!\n";
$pop->quit or die "QUIT failed: ", $pop->message;
print "fetched $fetched\n";
exit 0;
