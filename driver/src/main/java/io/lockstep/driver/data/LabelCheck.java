package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import java.io.Serializable;

/**
 * One Spark pass over a split before training: it reads (parses, checks) every row, so a bad
 * value anywhere in the validation or test split fails before the first epoch instead of after
 * the last, and, for classification, finds the first row whose class index the job's classes do
 * not cover, by its place in the source.
 */
final class LabelCheck implements Serializable {
    /** Dense index of the first row with a label >= classes (Long.MAX_VALUE: none), its place and label. */
    private long index = Long.MAX_VALUE;
    private long pos;
    private float label;

    private LabelCheck() {
    }

    /**
     * Fails naming the place of the first row of {@code part} whose class index is {@code classes}
     * or more (classification), or the first bad row of any split the readers find.
     *
     * @param known what fixed the classes, for the message ("data.classes is 3", or the training labels)
     */
    static void check(Part part, Task task, int classes, String known) {
        boolean byClass = task == Task.CLASSIFICATION;
        LabelCheck found = part.rows().aggregate(new LabelCheck(), (acc, e) -> {
            if (byClass && e.label() >= classes && e.index() < acc.index) {
                acc.index = e.index();
                acc.pos = e.pos();
                acc.label = e.label();
            }
            return acc;
        }, (a, b) -> b.index < a.index ? b : a);
        if (found.index != Long.MAX_VALUE) {
            throw new IllegalArgumentException(part.locator().where(found.pos) + part.labelAt() + ": label "
                + Values.text(found.label) + " is outside 0.." + (classes - 1) + " (" + known + ")");
        }
    }
}
