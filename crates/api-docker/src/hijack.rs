//! Hijacked streams (attach, exec start): `Upgrade: tcp` answered with 101, then the raw
//! connection carries stdin one way and output the other, multiplexed when there is no TTY.
