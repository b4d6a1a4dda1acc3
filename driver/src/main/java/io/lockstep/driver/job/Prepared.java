package io.lockstep.driver.job;

import io.lockstep.driver.spark.RankRows;
import io.lockstep.driver.spark.RunPlan;
import io.lockstep.driver.spark.StartPoint;
import io.lockstep.driver.spark.Topology;
import org.apache.spark.api.java.JavaRDD;

/** Everything fixed before the training stage starts: the plan, the model, where it starts, each rank's rows. */
record Prepared(RunPlan plan, ModelSetup model, StartPoint start, Watch watch, Topology topology,
                JavaRDD<RankRows> rows) {
}
