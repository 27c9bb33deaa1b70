import 'reflect-metadata';
import { Inject, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ConfigSectionModule } from './config.module';

const FIRST = Symbol('FIRST');
const SECOND = Symbol('SECOND');

@Injectable()
class Reader {
  constructor(
    @Inject(FIRST) readonly first: { n: number },
    @Inject(SECOND) readonly second: { n: number },
  ) {}
}

// Reader's module imports neither section: they are global.
@Module({ providers: [Reader] })
class FeatureModule {}

describe('ConfigSectionModule', () => {
  it('provides each section globally, under its own token, parsed once', async () => {
    let loads = 0;
    const app = await Test.createTestingModule({
      imports: [
        ConfigSectionModule.forRoot(FIRST, () => ({ n: ++loads })),
        ConfigSectionModule.forRoot(SECOND, () => ({ n: 2 })),
        FeatureModule,
      ],
    }).compile();
    const reader = app.get(Reader);
    expect(reader.first).toEqual({ n: 1 });
    expect(reader.second).toEqual({ n: 2 });
    expect(app.get(FIRST)).toBe(reader.first);
    expect(loads).toBe(1);
  });

  it('fails start-up with the parse error of a bad section', async () => {
    const bad = () => {
      throw new Error('Invalid configuration:\n  X: must be a number');
    };
    await expect(
      Test.createTestingModule({ imports: [ConfigSectionModule.forRoot(FIRST, bad)] }).compile(),
    ).rejects.toThrow('X: must be a number');
  });
});
