package io.lockstep.driver.kryo;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

/**
 * An object whose class is all there is to it, rebuilt by its no-argument constructor: Spark ML's vector and
 * matrix UDTs, whose fields are only a lazily made copy of their SQL type (which would drag every SQL data type
 * into the registrations).
 */
final class Stateless extends Serializer<Object> {
    @Override
    public void write(Kryo kryo, Output output, Object object) {
    }

    @Override
    public Object read(Kryo kryo, Input input, Class<Object> type) {
        return kryo.newInstance(type);
    }
}
