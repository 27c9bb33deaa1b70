export * from './bootstrap';
export * from './app.module';
export * from './config/scorer-config';
export * from './items/item-cache';
export * from './model/onnx-model';
export * from './scoring/feature-assembler';
export * from './scoring/score-request';
