import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import { DashboardApiKeyGuard } from './api-key.guard';
import { DashboardService } from './dashboard.service';

const page = (file: string) => readFileSync(join(__dirname, 'public', file), 'utf8');

/** The page and its assets hold no data and are open; the data needs the API key when one is set. */
@Controller()
export class DashboardController {
  private readonly html = page('index.html');
  private readonly script = page('dashboard.js');
  private readonly style = page('dashboard.css');

  constructor(private readonly dashboard: DashboardService) {}

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

  @Get('dashboard.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  css(): string {
    return this.style;
  }

  @Get('api/dashboard')
  @UseGuards(DashboardApiKeyGuard)
  @Header('Cache-Control', 'no-store')
  data() {
    return this.dashboard.snapshot();
  }
}
