import t from 'tap';
import {
  DependencyCycleError,
  FileError,
  ModelError,
  ModelLoadError,
  NodixError,
  NoRoomError,
  PortPoolExhaustedError,
  UsageError,
} from '../src/errors.js';

t.test('every error has a stable code and the exit code the CLI returns for it', async (t) => {
  const table: [NodixError, string, number, string][] = [
    [new UsageError('bad option'), 'NODIX_ERR_USAGE', 2, 'bad option'],
    [
      new ModelError('services.ts', 'webapp1.port', 'is wrong'),
      'NODIX_ERR_MODEL',
      2,
      'services.ts: webapp1.port: is wrong',
    ],
    [new ModelError('services.ts', undefined, 'is wrong'), 'NODIX_ERR_MODEL', 2, 'services.ts: is wrong'],
    [new ModelLoadError('x.ts', 'no such file'), 'NODIX_ERR_MODEL_LOAD', 2, 'x.ts: no such file'],
    [
      new DependencyCycleError('s.ts', ['a', 'b', 'a']),
      'NODIX_ERR_DEPENDENCY_CYCLE',
      2,
      's.ts: a.dependsOn: dependency cycle: a -> b -> a',
    ],
    [new NoRoomError('no room for x', 'x'), 'NODIX_ERR_NO_ROOM', 2, 'no room for x'],
    [new PortPoolExhaustedError('full', 'shared'), 'NODIX_ERR_PORT_POOL_EXHAUSTED', 2, 'full'],
    [new FileError('out.json', 'cannot be written'), 'NODIX_ERR_FILE', 1, 'out.json: cannot be written'],
    [
      new NodixError('agent unreachable', { code: 'NODIX_ERR_TRANSPORT' }),
      'NODIX_ERR_TRANSPORT',
      1,
      'agent unreachable',
    ],
  ];
  for (const [error, code, exitCode, message] of table) {
    t.equal(error.code, code, `${error.name} code`);
    t.equal(error.exitCode, exitCode, `${error.name} exit code`);
    t.equal(error.message, message, `${error.name} message`);
    t.ok(error instanceof NodixError && error instanceof Error, `${error.name} is a NodixError`);
    t.equal(error.name, error.constructor.name, 'name is the class name');
  }
});
