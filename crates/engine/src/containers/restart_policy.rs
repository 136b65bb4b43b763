//! restart_policy
