import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

/** Writes a ConsentChanged event with stock Avro (single-object encoding) and decodes one
 *  written by Python. Args: schema.json out.bin python.bin */
public class JavaProducer {
  public static void main(String[] args) throws Exception {
    Schema schema = new Schema.Parser().parse(Files.readString(Path.of(args[0])));
    Schema envSchema = schema.getField("envelope").schema();
    GenericRecord producer = new GenericData.Record(envSchema.getField("producer").schema());
    producer.put("service", "java-crm");
    producer.put("version", "9.9");
    producer.put("colour", "external");
    GenericRecord env = new GenericData.Record(envSchema);
    env.put("event_id", "java-evt-1");
    env.put("event_type", "ConsentChanged");
    env.put("workflow_id", "subject-java");
    env.put("session_id", "");
    env.put("occurred_at", 1700000000000L);
    env.put("producer", producer);
    env.put("causation_id", null);
    env.put("correlation_id", "subject-java");
    env.put("schema_version", 1);
    env.put("encrypted_fields", new GenericData.Array<>(0, envSchema.getField("encrypted_fields").schema()));
    GenericRecord rec = new GenericData.Record(schema);
    rec.put("envelope", env);
    rec.put("subject_id", "subject-java");
    rec.put("purpose", "marketing");
    rec.put("granted", true);
    ByteBuffer buf = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema).encode(rec);
    try (FileOutputStream out = new FileOutputStream(args[1])) {
      out.write(buf.array(), buf.arrayOffset() + buf.position(), buf.remaining());
    }
    GenericRecord fromPython = new BinaryMessageDecoder<GenericRecord>(GenericData.get(), schema)
        .decode(Files.readAllBytes(Path.of(args[2])));
    System.out.println(fromPython.get("subject_id") + "|" + fromPython.get("purpose") + "|" + fromPython.get("granted"));
  }
}
