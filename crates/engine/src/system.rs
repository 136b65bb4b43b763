//! /info, /version and /system/df figures.
