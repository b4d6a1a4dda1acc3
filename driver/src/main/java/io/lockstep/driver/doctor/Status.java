package io.lockstep.driver.doctor;

/** A finding's verdict: a FAIL stops a job from starting; a WARN is logged when it starts. */
public enum Status { OK, WARN, FAIL }
