import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Header, Inject } from '@nestjs/common';
import { DashboardService } from './dashboard.service';

const page = (file: string) => readFileSync(join(__dirname, 'public', file), 'utf8');

@Controller()
export class DashboardController {
  private readonly html = page('index.html');
  private readonly script = page('dashboard.js');

  constructor(@Inject(DashboardService) private readonly dashboard: DashboardService) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  index(): string {
    return this.html;
  }

  @Get('dashboard.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  js(): string {
    return this.script;
  }

  @Get('api/dashboard')
  data() {
    return this.dashboard.snapshot();
  }

  @Get('health/live')
  live() {
    return { status: 'ok' };
  }
}
