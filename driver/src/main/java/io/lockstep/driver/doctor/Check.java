package io.lockstep.driver.doctor;

import java.util.List;

/** One of the doctor's checks: what it finds for a job on this machine, one or more lines. */
interface Check {
    List<Finding> run(Setting job);
}
