import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbDeploymentStore, ensureTable } from '../../lib/store/dynamodb-deployment-store';

interface DynaliteServer {
  listen(port: number, host: string, cb: () => void): void;
  close(cb?: () => void): void;
  address(): { port: number };
}

export interface TestDynamo {
  endpoint: string;
  client: DynamoDBClient;
  store: DynamoDbDeploymentStore;
  table: string;
  close(): Promise<void>;
}

/** dynalite in-process on a random loopback port, with the helmgate table created; real SDK client. */
export async function startDynalite(table = 'helmgate'): Promise<TestDynamo> {
  const server = (require('dynalite') as (o: object) => DynaliteServer)({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${server.address().port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await ensureTable(client, table);
  return {
    endpoint,
    client,
    table,
    store: new DynamoDbDeploymentStore(client, table),
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
