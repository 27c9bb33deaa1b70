import { Global, Module } from '@nestjs/common';
import { AdmissionService } from './admission.service';

/** Admission control (deadlines, the bounded queue, shedding) for the scoring route and bootstrap's hook. */
@Global()
@Module({ providers: [AdmissionService], exports: [AdmissionService] })
export class AdmissionModule {}
